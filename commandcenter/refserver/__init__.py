"""commandcenter/refserver"""
