"""ui/app"""
