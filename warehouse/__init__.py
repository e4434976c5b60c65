"""The ClickHouse warehouse: the client factory, migrations, retention, writes and trace queries."""
