"""The paper venue: the engine's ``Venue`` port in process, over the project's one simulator."""
