"""photostage.api.routes"""
