"""Upstream sources: HTTP clients and the shared upstream rate limiter.

A client fetches raw responses (bytes plus request metadata, never the token) and
classifies failures; archiving, parsing and storing are the pipeline's job
(:mod:`gridvault.pipeline.collect`).
"""
