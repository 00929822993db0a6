"""photostage.storage"""
