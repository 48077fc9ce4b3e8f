"""commandcenter/wall"""
