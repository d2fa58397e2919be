"""Storage of key metadata behind one port, with DynamoDB and SQLite adapters."""
