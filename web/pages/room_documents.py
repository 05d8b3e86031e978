"""Placeholder: filled in by its owner this session."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
