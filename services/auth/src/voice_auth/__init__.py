"""The auth service: answers auth.validate for the edge and the other services."""
