"""Jobs that chain the stages: the demo on the embedded defaults, the paper's experiments."""
