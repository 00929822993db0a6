"""photostage.jobs"""
