"""Scorers: `choice` (multiple choice by log-likelihood), `generation` (timed generation), `quality` (1-5 grades)."""

__all__ = ["choice", "generation", "quality"]
