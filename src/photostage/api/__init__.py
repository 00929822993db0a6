"""photostage.api"""
