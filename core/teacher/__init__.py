"""The teacher: prompts, the answer parser, alignment, constrained decoding, neighbours and
memory (the small-teacher setting), annotation runs, their quality, shards and merge.
"""
