// The Coffer flow through the generated Kotlin bindings of libcoffer_ffi on the JVM (JNA),
// against the real coffer-relay binary on 127.0.0.1 over TLS with its pinned certificate: the
// same flow as ffi/tests/python/test_flow.py, in the idioms an Android app uses (suspend
// functions, sealed exception classes, `use {}`).
//
// Run by scripts/ffi-kotlin-test.sh (needs a JDK, JNA and a Kotlin compiler; see there).
// Environment: COFFER_RELAY_BIN (the relay binary). Exits non-zero on the first failure.

import java.io.File
import java.nio.file.Files
import java.util.Base64
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.runBlocking
import uniffi.coffer_ffi.*

class Relay(vararg overrides: Pair<String, String>) : AutoCloseable {
    val dataDir: File = Files.createTempDirectory("coffer-ffi-kt-").toFile().resolve("data").also { it.mkdir() }
    private val process: Process
    val url: String
    val pin: String

    init {
        val bin = System.getenv("COFFER_RELAY_BIN") ?: "target/debug/coffer-relay"
        val builder = ProcessBuilder(bin, "--data-dir", dataDir.path, "--listen", "127.0.0.1:0")
            .redirectError(File(dataDir.parentFile, "relay-stderr.log"))
        val env = builder.environment()
        env.keys.filter { it.startsWith("COFFER_") || it.startsWith("PLURALLOG_") }.forEach { env.remove(it) }
        listOf("REGISTER", "AUTH", "UPLOAD", "GENERAL", "DISCOVERY", "ADMIN").forEach { env["COFFER_RATE_$it"] = "100000" }
        // Every payload a blob file (docs/adr/0027), so that corruptBlob finds the one it alters.
        env["COFFER_INLINE_MAX"] = "0"
        overrides.forEach { (k, v) -> env[k] = v }
        process = builder.start()
        val lines = LinkedBlockingQueue<String>()
        Thread { process.inputStream.bufferedReader().forEachLine { lines.put(it.trim()) } }.apply { isDaemon = true }.start()
        var url: String? = null
        var pin: String? = null
        while (url == null || pin == null) {
            val line = lines.poll(60, TimeUnit.SECONDS) ?: error("no relay banner within 60 s")
            if (line.startsWith("url:")) url = line.removePrefix("url:").trim().trimEnd('/')
            if (line.startsWith("pin:")) pin = line.removePrefix("pin:").trim()
        }
        this.url = url
        this.pin = pin
    }

    fun config(pin: String = this.pin): ClientConfig =
        ClientConfig.pinned(url, pin).withProxyFromEnv(false)

    override fun close() {
        process.destroyForcibly().waitFor()
        dataDir.parentFile.deleteRecursively()
    }
}

/** The app's secure storage; an Android app backs this with Keystore-wrapped files. */
class MapStorage : KeyStorage {
    val values = ConcurrentHashMap<String, ByteArray>()
    override fun load(key: String): ByteArray? = values[key]
    override fun store(key: String, value: ByteArray) { values[key] = value.copyOf() }
    override fun delete(key: String) { values.remove(key) }
    override fun list(prefix: String): List<String> = values.keys.filter { it.startsWith(prefix) }.sorted()
}

class Recorder(private val cancelAt: String? = null, private val token: CancellationToken? = null) : ProgressListener {
    val events = mutableListOf<Triple<ULong, ULong, String>>()
    override fun onProgress(done: ULong, total: ULong, what: String) {
        synchronized(events) { events.add(Triple(done, total, what)) }
        if (cancelAt != null && what.startsWith(cancelAt)) token?.cancel()
    }
}

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

inline fun <reified E : Throwable> expectThrows(block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e", e)
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing was thrown")
}

fun t(done: Int, total: Int, what: String) = Triple(done.toULong(), total.toULong(), what)

suspend fun pair(system: SystemClient, volumes: List<String>): Pair<FriendClient, PairedSystem> {
    val link = InviteLink.parse(system.createInvite().toUri())
    val friend = FriendClient.register(ClientConfig.fromInvite(link).withProxyFromEnv(false), MapStorage())
    val paired = friend.redeem(link)
    val request = system.pendingRequests().single { it.friendId == friend.userId() }
    check(request.proofValid) { "proof not valid" }
    check(request.safetyNumber == friend.safetyNumber()) { "safety numbers differ" }
    system.approve(friend.userId(), volumes)
    return friend to paired
}

fun corruptBlob(dataDir: File, owner: String, volume: String, version: Int) {
    val blob = dataDir.walkTopDown().first {
        it.isFile && it.parentFile.name == owner && it.name.startsWith("$volume.v$version.") && it.name.endsWith(".bin")
    }
    val bytes = blob.readBytes()
    bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 1).toByte()
    blob.writeBytes(bytes)
}

fun main() = runBlocking {
    val logLines = mutableListOf<String>()
    setLogger(object : Logger {
        override fun log(level: LogLevel, target: String, message: String) {
            synchronized(logLines) { logLines.add("$level $target $message") }
        }
    }, LogLevel.DEBUG)
    val meta = "{\"schema_version\":2,\"name\":\"PLAINTEXT-MARKER\"}".toByteArray()
    var passed = 0

    Relay().use { relay ->
        // System registers and publishes; two friends pair by link and are approved.
        val storage = MapStorage()
        SystemClient.register(relay.config(), storage, "kotlin-system").use { system ->
            val sys = system.userId()
            check(system.publish("meta", meta) == Published(1u, 1uL)) { "publish meta" }
            system.publish("fronts", "fronts v1".toByteArray())
            val (revoked, paired) = pair(system, listOf("meta", "fronts"))
            check(paired.systemId == sys && paired.safetyNumber == system.safetyNumber()) { "paired system" }
            val (stays, _) = pair(system, listOf("meta"))

            // The friend fetches and decrypts.
            val fetched = revoked.fetch(sys, "meta")
            check(fetched is FetchResult.Updated && fetched.plaintext.contentEquals(meta)) { "fetch: $fetched" }
            check(revoked.fetch(sys, "meta") is FetchResult.NotModified) { "second fetch" }

            // Revocation cancelled after the unpair step, then resumed with progress.
            val token = CancellationToken()
            val first = Recorder(cancelAt = "rotate:", token = token)
            expectThrows<CofferException.Cancelled> { system.revoke(revoked.userId(), first, token) }
            check(first.events == listOf(t(0, 4, "unpair"), t(1, 4, "rotate:fronts"))) { "first: ${first.events}" }
            check(storage.values.containsKey("rotation")) { "plan kept" }
            val resumed = Recorder()
            val report = system.resumeRotation(resumed) ?: error("no rotation was pending")
            check(resumed.events.last() == t(4, 4, "done")) { "resumed: ${resumed.events}" }
            check(report.rotated.map { it.volume to it.epoch }.sortedBy { it.first } == listOf("fronts" to 2u, "meta" to 2u)) { "report: $report" }
            check(report.friendsRegranted == listOf(stays.userId())) { "regranted: $report" }

            // The revoked friend is refused; the other reads the re-encrypted version.
            expectThrows<CofferException.Forbidden> { revoked.fetch(sys, "meta") }
            val again = stays.fetch(sys, "meta")
            check(again is FetchResult.Updated && again.epoch == 2u && again.plaintext.contentEquals(meta)) { "stays: $again" }

            // Backup and restore on a "new device".
            val backup = system.exportBackup("correct horse battery staple")
            expectThrows<CofferException.WrongPassphrase> {
                SystemClient.restoreBackup(relay.config(), MapStorage(), backup, "wrong")
            }
            SystemClient.restoreBackup(relay.config(), MapStorage(), backup, "correct horse battery staple").use {
                check(it.userId() == sys) { "restored user id" }
            }
            revoked.close()
            stays.close()
        }
        passed++

        // Typed errors: a wrong pin, data altered at rest on the relay.
        val wrongPin = "sha256/" + Base64.getEncoder().encodeToString(ByteArray(32))
        expectThrows<CofferException.TlsPinMismatch> {
            SystemClient.register(relay.config(wrongPin), MapStorage())
        }
        passed++
        SystemClient.register(relay.config(), MapStorage()).use { system ->
            system.publish("journal", "journal v1".toByteArray())
            val (friend, _) = pair(system, listOf("journal"))
            friend.fetch(system.userId(), "journal")
            system.publish("journal", "journal v2".toByteArray())
            corruptBlob(relay.dataDir, system.userId(), "journal", 2)
            expectThrows<CofferException.Tampered> { friend.fetch(system.userId(), "journal") }
            friend.close()
        }
        passed++
    }

    Relay("COFFER_RATE_REGISTER" to "1").use { relay ->
        SystemClient.register(relay.config(), MapStorage()).close()
        val limited = expectThrows<CofferException.RateLimited> {
            SystemClient.register(relay.config(), MapStorage())
        }
        check(limited.retryAfterSeconds >= 1uL) { "retry after ${limited.retryAfterSeconds}" }
        passed++
    }

    val log = synchronized(logLines) { logLines.joinToString("\n") }
    check("key rotation finished" in log) { "no rotation log line" }
    check("PLAINTEXT-MARKER" !in log && "correct horse" !in log) { "a secret reached the log" }
    setLogger(null, LogLevel.ERROR)
    println("ffi kotlin flow: $passed passed, 0 failed")
}
