"""The HTTP face, `rostersync serve`: routes parse, authorise and format; the work is a call into `jobs.app`."""
