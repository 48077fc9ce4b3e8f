"""ui/views/map"""
