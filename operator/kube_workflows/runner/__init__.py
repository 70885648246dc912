"""What runs in a WorkflowRun's pod: claim the run, restore its Context, checkpoint every step."""
