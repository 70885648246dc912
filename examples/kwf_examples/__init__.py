"""The durable-workflows guide's three examples, as workflows a WorkflowRun can name."""
