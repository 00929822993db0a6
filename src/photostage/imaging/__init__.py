"""photostage.imaging"""
