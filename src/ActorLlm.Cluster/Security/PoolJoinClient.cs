using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ActorLlm.Inference;

namespace ActorLlm.Cluster.Security;

/// <summary>
/// The joining side of <c>actorllm node --join URL --token TOKEN</c>, and renewal. The node makes its key here
/// (ECDSA P-256; the private key never leaves this machine) and first fetches the gateway's CA certificate: only
/// when its SHA-256 is the token's fingerprint, and the gateway's HTTPS certificate is a gateway certificate
/// signed by that CA, is the token sent, with a certificate request, over a connection that accepts only that
/// CA's gateway certificate. So a token cannot be phished by a machine of another pool or a stranger in the path.
/// </summary>
public static class PoolJoinClient
{
    /// <summary>Joins the pool at <paramref name="url"/> (https://GATEWAY:PORT) and stores the credentials in <paramref name="directory"/>.</summary>
    public static async Task<PoolCredentials> JoinAsync(string url, string tokenText, string directory, TimeSpan timeout, CancellationToken cancel)
    {
        var token = JoinToken.Parse(tokenText);
        var baseUri = JoinUri(url);

        // 1. Who answers there? Nothing secret is sent until the CA it presents is the one the token pins.
        X509Certificate2? presented = null;
        string caPem;
        using (var probe = Client(timeout, (_, certificate, _, _) =>
        {
            presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return true;
        }))
        {
            caPem = await Send(() => probe.GetStringAsync(new Uri(baseUri, "pool/ca.crt"), cancel), url);
        }

        using var ca = ReadCertificate(caPem, $"the CA certificate {url} sent");
        string fingerprint = PoolIdentity.Fingerprint(ca);
        if (fingerprint != token.Fingerprint)
        {
            throw new InvalidRequestException(
                $"the gateway at {url} belongs to another pool (its CA's SHA-256 is {fingerprint}, the token's is {token.Fingerprint}): nothing was sent; check the address, or ask for an invite of this pool");
        }

        using (presented)
        {
            RequireGateway(presented, ca, url);
        }

        // 2. The key, made here, and the request over a connection pinned to that CA.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string csr = new CertificateRequest("CN=joining node", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        JoinResponse answer;
        using (var client = Client(timeout, Pinned(ca)))
        {
            answer = await Post(client, new Uri(baseUri, "pool/join"), JsonContent.Create(new JoinRequest(token.ToString(), csr), PoolJson.Default.JoinRequest), url, "join", cancel);
        }

        return Store(answer, ca, key, directory, new PoolInfo(PoolIdentity.PoolIdOf(ca), url, answer.Seeds));
    }

    /// <summary>
    /// Renews <paramref name="current"/>'s certificate at the gateway it joined through (pool.json's join URL),
    /// authenticated by the current certificate as the TLS client certificate; a new key replaces the old one.
    /// </summary>
    public static async Task<PoolCredentials> RenewAsync(PoolCredentials current, TimeSpan timeout, CancellationToken cancel)
    {
        var info = current.Info ?? throw new InvalidRequestException($"{current.Directory} has no pool.json: cannot tell where to renew; join again");
        var baseUri = JoinUri(info.JoinUrl);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string csr = new CertificateRequest("CN=renewing node", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        JoinResponse answer;
        using (var client = Client(timeout, Pinned(current.Ca), current.Certificate))
        {
            answer = await Post(client, new Uri(baseUri, "pool/renew"), JsonContent.Create(new RenewRequest(csr), PoolJson.Default.RenewRequest), info.JoinUrl, "renewal", cancel);
        }

        if (answer.Name != current.Identity.Name)
        {
            throw new InvalidRequestException($"the gateway renewed the certificate under another name ('{answer.Name}', not '{current.Identity.Name}')");
        }

        return Store(answer, current.Ca, key, current.Directory, info with { Seeds = answer.Seeds });
    }

    private static PoolCredentials Store(JoinResponse answer, X509Certificate2 ca, ECDsa key, string directory, PoolInfo info)
    {
        using var certificate = ReadCertificate(answer.Certificate, "the certificate the gateway signed");
        using (var pub = certificate.GetECDsaPublicKey())
        {
            if (pub is null || !pub.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new InvalidRequestException("the gateway answered with a certificate for another key");
            }
        }

        var check = PoolCertificates.Check(certificate, ca, new DenyList(), DateTimeOffset.UtcNow);
        if (!check.IsValid)
        {
            throw new InvalidRequestException($"the gateway answered with a certificate this node cannot use: {check.Reason}");
        }

        PoolCredentials.Save(directory, ca.ExportCertificatePem(), certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), info);
        return PoolCredentials.Load(directory);
    }

    private static Uri JoinUri(string url) =>
        Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps
            ? uri
            : throw new InvalidRequestException($"--join '{url}': give the gateway's join endpoint as https://HOST:PORT (the gateway prints it: \"actorllm pool join: URL\")");

    private static void RequireGateway(X509Certificate2? presented, X509Certificate2 ca, string url)
    {
        if (presented is null)
        {
            throw new InvalidRequestException($"the gateway at {url} presented no certificate");
        }

        var check = PoolCertificates.Check(presented, ca, new DenyList(), DateTimeOffset.UtcNow);
        if (!check.IsValid || !check.Identity!.IsGateway)
        {
            throw new InvalidRequestException($"the HTTPS certificate of {url} is not a valid gateway certificate of the pool: {(check.IsValid ? "it is not a gateway's" : check.Reason)}; nothing was sent");
        }
    }

    private static Func<object, X509Certificate?, X509Chain?, SslPolicyErrors, bool> Pinned(X509Certificate2 ca) =>
        (_, certificate, _, _) =>
        {
            if (certificate is null)
            {
                return false;
            }

            using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            var check = PoolCertificates.Check(presented, ca, new DenyList(), DateTimeOffset.UtcNow);
            return check.IsValid && check.Identity!.IsGateway;
        };

    private static HttpClient Client(TimeSpan timeout, Func<object, X509Certificate?, X509Chain?, SslPolicyErrors, bool> validate, X509Certificate2? clientCertificate = null)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (sender, certificate, chain, errors) => validate(sender, certificate, chain, errors),
                ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
                LocalCertificateSelectionCallback = clientCertificate is null ? null : (_, _, _, _, _) => clientCertificate,
            },
            ConnectTimeout = timeout,
        };
        return new HttpClient(handler) { Timeout = timeout };
    }

    private static async Task<JoinResponse> Post(HttpClient client, Uri uri, HttpContent content, string url, string what, CancellationToken cancel)
    {
        using var response = await Send(() => client.PostAsync(uri, content, cancel), url);
        if (!response.IsSuccessStatusCode)
        {
            string reason;
            try
            {
                reason = (await response.Content.ReadFromJsonAsync(PoolJson.Default.JoinError, cancel))?.Error ?? "";
            }
            catch (System.Text.Json.JsonException)
            {
                reason = "";
            }

            throw new InvalidRequestException($"the gateway refused the {what} ({(int)response.StatusCode}): {(reason.Length > 0 ? reason : response.ReasonPhrase)}");
        }

        return await response.Content.ReadFromJsonAsync(PoolJson.Default.JoinResponse, cancel) ?? throw new InvalidRequestException($"the gateway's answer to the {what} is empty");
    }

    private static async Task<T> Send<T>(Func<Task<T>> send, string url)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException e)
        {
            throw new InvalidRequestException($"cannot reach the join endpoint {url}: {e.Message}{(e.InnerException is { } inner ? $" ({inner.Message})" : "")}");
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new InvalidRequestException($"the join endpoint {url} did not answer in time");
        }
    }

    private static X509Certificate2 ReadCertificate(string pem, string what)
    {
        try
        {
            return X509Certificate2.CreateFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new InvalidRequestException($"{what} is not a PEM certificate: {e.Message}");
        }
    }
}
