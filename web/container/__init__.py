"""What starts and runs the container; imports neither Flask nor SQLAlchemy at the top."""
