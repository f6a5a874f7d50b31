/// The release this build belongs to (also the HTTP API's version in its OpenAPI document).
public let smartcropVersion = "1.0.0"
