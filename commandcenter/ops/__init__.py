"""commandcenter/ops"""
