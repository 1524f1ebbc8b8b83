"""Test doubles that stand in for real services, so unit tests need no cluster or network."""
