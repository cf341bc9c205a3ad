"""llm-analytics: declarative plan/apply for the Kafka and Redis clusters of the LLM analytics platform."""

__version__ = "0.1.0"
