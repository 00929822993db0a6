"""photostage.pipeline"""
