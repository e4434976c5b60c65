"""The ClickHouse warehouse: the client factory, migrations, writes and trace queries."""
