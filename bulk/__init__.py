"""Exactly-once, resumable bulk provisioning of Schlage mobile credentials."""
