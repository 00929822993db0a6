"""photostage.sources"""
