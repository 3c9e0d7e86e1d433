"""Tests of one package at a time, without a running server (the real models and databases where the package
needs them)."""
