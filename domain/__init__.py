"""The tiering domain: stored objects, their append-only logs, and the rules.

Pure Python. Nothing in this package imports Ray, Kafka, S3 clients or web
frameworks, and nothing here reads the wall clock: every time is passed in.
"""
