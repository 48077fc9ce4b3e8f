"""commandcenter/storage"""
