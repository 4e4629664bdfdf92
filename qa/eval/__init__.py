"""``ask eval``: score the bot on a question set, with the metrics the field uses.

Light on purpose: ``qa.cli.main`` imports ``qa.cli.eval`` at start-up, so nothing heavy is imported
here; the loaders, the pipeline and the report writers are imported when the command runs.
"""
