"""Test doubles that ship with daert: servers speaking third-party wire protocols locally."""
