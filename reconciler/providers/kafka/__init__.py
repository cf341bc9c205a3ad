"""The Kafka provider: admin client over aiokafka, topics, ACLs, health."""
