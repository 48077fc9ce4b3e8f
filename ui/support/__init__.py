"""ui/support"""
