"""Memory: what Autopack keeps across phases and runs (retrieval, learned rules).

Capability code only: functions here read and stage rows in a session they are given;
``services.memory`` owns the transactions.
"""
