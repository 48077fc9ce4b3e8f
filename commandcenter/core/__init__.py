"""commandcenter/core"""
