"""`kwf serve`: llama-agents-server's WorkflowServer HTTP API over the Kubernetes API.

WorkflowTemplates are the workflows, a handler is a WorkflowRun (handler_id = the run's name). The
server keeps no state of its own: every answer is read from, or written to, the API server with the
server's own identity (see the README, "Use the llama-agents client").
"""
