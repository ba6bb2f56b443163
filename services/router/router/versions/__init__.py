"""Router versions: the artifacts registered by admins, and which of them serves each conversation."""
