// Placeholder until the subject strategy lands.
public enum SaliencyModule {}
