using Akka.Remote.Hosting;

namespace ActorLlm.Cluster.Security.Tls;

/// <summary>
/// A node's mutual TLS: its credentials and the validator every handshake of its cluster port goes through. One per
/// actor system; <see cref="Remoting"/> gives Akka.Remote the certificate and the validator.
/// </summary>
public sealed class NodeTls : IDisposable
{
    private NodeTls(TlsCredentials credentials, PeerValidator validator)
    {
        Credentials = credentials;
        Validator = validator;
    }

    public TlsCredentials Credentials { get; }

    public PeerValidator Validator { get; }

    /// <summary>
    /// Loads the credentials of <paramref name="settings"/> (refused, saying how to get them, when missing or bad) and
    /// makes the validator: chain to their CA only, their pool id, and <paramref name="policy"/> (the deny list; none
    /// when null).
    /// </summary>
    public static NodeTls Load(TlsSettings settings, IPeerPolicy? policy = null, TimeProvider? time = null)
    {
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var credentials = TlsCredentials.Load(settings.Credentials, now);
        return new NodeTls(credentials, new PeerValidator(credentials.Ca, credentials.Identity.PoolId, policy ?? PeerPolicy.None, time));
    }

    /// <summary>A node's TLS from credentials in memory (tests); peers must chain to <see cref="TlsCredentials.Ca"/>.</summary>
    public static NodeTls Create(TlsCredentials credentials, IPeerPolicy? policy = null, TimeProvider? time = null) =>
        new(credentials, new PeerValidator(credentials.Ca, PeerCertificates.PoolIdOf(credentials.Ca) ?? credentials.Identity.PoolId, policy ?? PeerPolicy.None, time));

    /// <summary>
    /// DotNetty's TLS with client certificates required on both sides, and this node's validator instead of the
    /// system's chain check (hostname checks off: a node is named by its certificate's CN, not by its address).
    /// </summary>
    public SslOptions Remoting() => new()
    {
        X509Certificate = Credentials.Certificate,
        SuppressValidation = false,
        RequireMutualAuthentication = true,
        ValidateCertificateHostname = false,
        CustomValidator = Validator.Validate,
    };

    public void Dispose() => Credentials.Dispose();
}
