"""Decisions as plain functions on typed data: desired state, guards, plan, shards, compliance."""
