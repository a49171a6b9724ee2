"""Agents: the Builder, Auditor and Doctor roles and the parsing of their answers."""
