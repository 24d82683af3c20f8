"""Kafka and Faust at the edge of the detector: transport, local broker, workers."""
