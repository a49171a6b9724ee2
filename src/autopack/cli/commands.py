"""Registers every command group on the root app. One import per group module."""

from __future__ import annotations
