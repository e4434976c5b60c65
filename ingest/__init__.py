"""Getting events in: validation of what people submit, and publishing it to Kafka."""
