"""ui/alerts"""
