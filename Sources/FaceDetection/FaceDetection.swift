// Placeholder until the runtime lands.
public enum FaceDetectionModule {}
