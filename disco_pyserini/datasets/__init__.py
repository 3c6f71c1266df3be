"""Readers that turn public test collections and topic sets into our corpus and topics formats."""
